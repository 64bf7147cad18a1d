from hyperkvasir_cli.cli.app import main

main()
