# Warnings-as-errors and sanitizers for this project's own targets only.
#
# They live on an INTERFACE target that only this project's targets link
# (PRIVATE; the library through $<BUILD_INTERFACE:...> so the exported package
# never mentions it) instead of directory-wide add_compile_options(): nothing
# reaches a consumer's targets, whether it uses an installed package,
# add_subdirectory() or FetchContent.
#
# The one thing that does travel, deliberately: with ASYNCIO_SANITIZE set, a
# static libasyncio holds instrumented code, so the executable linking it needs
# the sanitizer runtime. A static library's PRIVATE link dependencies reach the
# final link as $<LINK_ONLY:...>, which carries INTERFACE_LINK_OPTIONS but not
# compile options: the consumer links the runtime, its own code stays
# uninstrumented and free of -Werror.
add_library(asyncio_build_flags INTERFACE)

if(ASYNCIO_WERROR)
  target_compile_options(asyncio_build_flags INTERFACE -Wall -Wextra -Wpedantic -Werror)
endif()

if(ASYNCIO_SANITIZE)
  if(ASYNCIO_SANITIZE MATCHES "thread" AND ASYNCIO_SANITIZE MATCHES "address")
    message(FATAL_ERROR "ASYNCIO_SANITIZE: 'thread' cannot be combined with 'address'")
  endif()
  message(STATUS "asyncio: sanitizers enabled: ${ASYNCIO_SANITIZE}")
  set(_asyncio_san_flags
    -fsanitize=${ASYNCIO_SANITIZE}
    -fno-omit-frame-pointer
    -fno-sanitize-recover=all)
  target_compile_options(asyncio_build_flags INTERFACE ${_asyncio_san_flags})
  target_link_options(asyncio_build_flags INTERFACE ${_asyncio_san_flags})
endif()
