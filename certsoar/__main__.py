from certsoar.cli import main

main()
