from hyperkvasir_cli.cli.entry import main

main()
