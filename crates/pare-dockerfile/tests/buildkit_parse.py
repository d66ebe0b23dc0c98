"""Prints, as one JSON document, how BuildKit's own parser (PyPI `dockerfile`, which wraps
BuildKit's Go parser) reads each Dockerfile named on the command line: its instructions (keyword,
ONBUILD's inner keyword, JSON form, start and end line, flags, values, heredocs) or its error."""
import json
import sys

import dockerfile

out = []
for path in sys.argv[1:]:
    entry = {"path": path, "error": None, "commands": []}
    try:
        commands = dockerfile.parse_file(path)
    except dockerfile.GoParseError as e:
        entry["error"] = str(e)
    except UnicodeDecodeError as e:
        entry["error"] = "not UTF-8: %s" % e
    else:
        for c in commands:
            entry["commands"].append({
                "cmd": c.cmd,
                "sub_cmd": c.sub_cmd,
                "json": c.json,
                "start_line": c.start_line,
                "end_line": c.end_line,
                "flags": list(c.flags),
                "value": list(c.value),
                "heredocs": [{"name": h.name, "fd": h.file_descriptor, "content": h.content}
                             for h in c.heredocs],
            })
    out.append(entry)
json.dump(out, sys.stdout)
