"""Flask extensions shared by blueprints."""

from flask_sock import Sock

sock = Sock()
