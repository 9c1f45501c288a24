"""The gateway: FastAPI + Socket.IO on one ASGI app (port 3002)."""
