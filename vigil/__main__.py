from vigil.cli import app

app()
