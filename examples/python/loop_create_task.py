# The low-level way to start a task: loop.create_task() on the running loop (what
# asyncio.create_task() does for you), with and without a name.
import asyncio


async def say_after(delay, what):
    await asyncio.sleep(delay)
    print(what)
    return len(what)


async def main():
    loop = asyncio.get_running_loop()
    unnamed = loop.create_task(say_after(0.4, 'hello from an unnamed task'))
    named = loop.create_task(say_after(0.2, 'hello from a named task'), name='greeter')
    print(f"created {unnamed.get_name()} and {named.get_name()}")
    print(f"{named.get_name()} returned {await named}")
    print(f"{unnamed.get_name()} returned {await unnamed}")

asyncio.run(main())
