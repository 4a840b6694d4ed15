from rlm_desktop.cli import main

raise SystemExit(main())
