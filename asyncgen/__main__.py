from asyncgen.cli import main

raise SystemExit(main())
