from pdsearch.cli import main

main()
