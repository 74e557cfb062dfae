"""``hotsync api GROUP/VERB``: one call of the web API (see ``hotsync.api``), JSON on stdin and stdout.

NethServer's Cockpit runs it through the executables under
``/usr/libexec/nethserver/api/nethserver-hotsync/``; an admin can too:
``echo '{}' | hotsync api dashboard/read``.
"""

import json
import sys
from typing import List

from ..api import endpoint_names, respond
from ..errors import EXIT_USAGE
from ..root import Root


def main(root: Root, argv: List[str]) -> int:
    if len(argv) != 1 or argv[0] in ("-h", "--help"):
        print(f"usage: hotsync api CALL < request.json\ncalls: {', '.join(endpoint_names())}",
              file=sys.stderr if argv[:1] not in (["-h"], ["--help"]) else sys.stdout)
        return EXIT_USAGE if argv[:1] not in (["-h"], ["--help"]) else 0
    code, response = respond(root, argv[0], sys.stdin.buffer.read())
    print(json.dumps(response, sort_keys=True))
    return code
