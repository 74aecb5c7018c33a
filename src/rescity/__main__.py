from rescity.cli import main

main()
