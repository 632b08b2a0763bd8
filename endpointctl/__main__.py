from endpointctl.cli import main

raise SystemExit(main())
