"""Remote policies: a websocket + msgpack policy server and the client policy ``remote``."""
