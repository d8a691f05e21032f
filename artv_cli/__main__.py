from artv_cli.app import main

main()
