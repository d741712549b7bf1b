from harness._cli import main

main()
