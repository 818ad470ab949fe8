from vigil.entry import main

main()
