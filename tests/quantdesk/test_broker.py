"""The embedded broker stops, and its port goes quiet."""

from quantdesk.broker import EmbeddedBroker, answers_metadata


def test_broker_stops_and_its_port_goes_quiet() -> None:
    broker = EmbeddedBroker().start()
    assert answers_metadata("127.0.0.1", broker.port)
    broker.stop()
    assert broker.process is not None and broker.process.poll() is not None
    assert not answers_metadata("127.0.0.1", broker.port)
