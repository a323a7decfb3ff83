#!/usr/bin/env python3
"""Checks that every documented public function of the API reference names its Python
counterpart ("Python: ...") or says it has none ("C++ only").

Reads the Doxygen XML that `make docs-check` generates (argument: its xml/ directory).
Constructors, destructors, operators and deleted functions are exempt: they are C++ plumbing.
Exit status 1 lists the offenders as file:line.
"""
import glob
import os
import sys
import xml.etree.ElementTree as ET


def main(xml_dir: str) -> int:
    offenders = set()
    roots = [ET.parse(p).getroot() for p in glob.glob(os.path.join(xml_dir, "*.xml"))
             if os.path.basename(p) != "index.xml"]
    # Constructors, including inherited ones (`using OSError::OSError;`), are named after a class.
    class_names = {c.findtext("compoundname").split("::")[-1]
                   for r in roots for c in r.iter("compounddef") if c.get("kind") in ("class", "struct")}
    for root in roots:
        for compound in root.iter("compounddef"):
            if compound.get("kind") not in ("class", "struct", "namespace"):
                continue
            short = compound.findtext("compoundname").split("::")[-1]
            for member in compound.iter("memberdef"):
                if member.get("kind") != "function" or member.get("prot") == "private":
                    continue
                name = member.findtext("name")
                if name in class_names or name == "~" + short or name.startswith("operator"):
                    continue
                if (member.findtext("argsstring") or "").endswith("=delete"):
                    continue
                text = "".join(member.find("briefdescription").itertext()) + "".join(
                    member.find("detaileddescription").itertext())
                if "Python" in text or "C++ only" in text:
                    continue
                loc = member.find("location")
                offenders.add(f"{loc.get('file')}:{loc.get('line')}: {compound.findtext('compoundname')}::{name}"
                              " does not name its Python counterpart (\"Python: ...\" or \"C++ only\")")
    for line in sorted(offenders):
        print(line, file=sys.stderr)
    return 1 if offenders else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "build/docs-check/xml"))
