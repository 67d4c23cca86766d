from offmem.cli.main import run

run()
