from evolab.backends.simulator.server import main

main()
