"""`python -m sandbox --port 8090 --gateway-url http://127.0.0.1:8080`."""

from sandbox.server import main

raise SystemExit(main())
