from recado.cli import main

main()
