"""A faithful Python 3 port of the seed: Twisted's producer/consumer random-integer server.

The seed (a blog copy of a Twisted mailing-list example) is Python 2 with
``implements(...)``; this port changes only what Python 3 and current Twisted require:
``@implementer``, bytes on the wire, and ``--host``/``--port`` options. Everything that
shapes its performance is kept: a ``LineReceiver``, an ``IPushProducer`` that is paused
and resumed by the transport, one ``random.randint(0, 10000)`` and one ``transport.write``
per integer, and the diagnostic ``print`` calls (the benchmark discards stdout).

Run: ``python seed_twisted.py --host 127.0.0.1 --port 1234``
"""

# Twisted's zope.interface attributes (transport, reactor) need the mypy-zope plugin to
# type-check; without it mypy sees ``ITransport | None`` and unbound interface methods.
# mypy: disable-error-code="union-attr, misc, call-arg, arg-type"

from __future__ import annotations

import argparse
import random

from twisted.internet import interfaces, reactor
from twisted.internet.protocol import Factory
from twisted.protocols.basic import LineReceiver
from zope.interface import implementer


@implementer(interfaces.IPushProducer)
class Producer:
    """Send back the requested number of random integers to the client."""

    def __init__(self, proto: ServeRandom, cnt: int) -> None:
        self._proto = proto
        self._goal = cnt
        self._produced = 0
        self._paused = False

    def pauseProducing(self) -> None:
        """Called (re-entrantly, from inside transport.write) when the buffer is full."""
        self._paused = True
        print(f"pausing connection from {self._proto.transport.getPeer()}")

    def resumeProducing(self) -> None:
        """Produce integers until paused or done."""
        self._paused = False
        while not self._paused and self._produced < self._goal:
            next_int = random.randint(0, 10000)
            self._proto.transport.write(b"%d\r\n" % next_int)
            self._produced += 1
        if self._produced == self._goal:
            self._proto.transport.unregisterProducer()
            self._proto.transport.loseConnection()

    def stopProducing(self) -> None:
        """The seed leaves this empty; the transport stops calling resumeProducing."""


class ServeRandom(LineReceiver):
    """Serve up random data."""

    def connectionMade(self) -> None:
        print(f"connection made from {self.transport.getPeer()}")
        self.transport.write(b"how many random integers do you want?\r\n")

    def lineReceived(self, line: bytes) -> None:
        cnt = int(line.strip())
        producer = Producer(self, cnt)
        self.transport.registerProducer(producer, True)
        producer.resumeProducing()

    def connectionLost(self, reason: object = None) -> None:
        print(f"connection lost from {self.transport.getPeer()}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=1234)
    args = parser.parse_args()
    factory = Factory()
    factory.protocol = ServeRandom
    reactor.listenTCP(args.port, factory, interface=args.host)
    print(f"listening on {args.port}...")
    reactor.run()


if __name__ == "__main__":
    main()
