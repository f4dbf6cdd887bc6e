#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# Survey programs (tests/survey/run.sh): one exchange done by several
# python3 socket styles. The client sends FILE and half-closes; the server
# reads to EOF, answers the sha256 of what it got on one line, then sends
# FILE and closes; the client prints the line and the sha256 of the rest.
#   pyprogs.py server|client STYLE HOST PORT FILE
# STYLE: asyncio (streams), selectors, sendfile (loop.sock_sendall and
# loop.sock_sendfile), forking, threading (socketserver); memcached
# (client only: the text protocol against a memcached server).
import asyncio, hashlib, selectors, socket, socketserver, sys

role, style, host, port, path = sys.argv[1:6]
port = int(port)
data = open(path, "rb").read() if path else b""


def answer(got):
    return (hashlib.sha256(got).hexdigest() + "\n").encode()


def client_sync():
    s = socket.create_connection((host, port), timeout=30)
    s.sendall(data)
    s.shutdown(socket.SHUT_WR)
    buf = bytearray()
    while True:
        b = s.recv(1 << 16)
        if not b:
            break
        buf += b
    s.close()
    line, _, rest = bytes(buf).partition(b"\n")
    print(line.decode(), hashlib.sha256(rest).hexdigest(), len(rest))


async def client_asyncio():
    r, w = await asyncio.open_connection(host, port)
    w.write(data)
    await w.drain()
    w.write_eof()
    line = await r.readline()
    rest = await r.read()
    w.close()
    await w.wait_closed()
    print(line.decode().strip(), hashlib.sha256(rest).hexdigest(), len(rest))


async def serve_asyncio():
    async def handle(r, w):
        got = await r.read()
        w.write(answer(got) + data)
        await w.drain()
        w.close()
    srv = await asyncio.start_server(handle, host, port)
    async with srv:
        await srv.serve_forever()


async def serve_loop_sock(use_sendfile):
    loop = asyncio.get_running_loop()
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((host, port))
    ls.listen()
    ls.setblocking(False)
    while True:
        c, _ = await loop.sock_accept(ls)
        got = bytearray()
        while True:
            b = await loop.sock_recv(c, 1 << 16)
            if not b:
                break
            got += b
        await loop.sock_sendall(c, answer(bytes(got)))
        if use_sendfile:
            with open(path, "rb") as f:
                await loop.sock_sendfile(c, f)
        else:
            await loop.sock_sendall(c, data)
        c.close()


def serve_selectors():
    sel = selectors.DefaultSelector()
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((host, port))
    ls.listen()
    ls.setblocking(False)
    sel.register(ls, selectors.EVENT_READ, None)
    st = {}
    while True:
        for key, ev in sel.select():
            s = key.fileobj
            if s is ls:
                c, _ = ls.accept()
                c.setblocking(False)
                st[c] = [bytearray(), None]
                sel.register(c, selectors.EVENT_READ, None)
                continue
            got, out = st[s]
            if out is None:
                try:
                    b = s.recv(1 << 16)
                except BlockingIOError:
                    continue
                if b:
                    got += b
                    continue
                st[s][1] = memoryview(answer(bytes(got)) + data)
                sel.modify(s, selectors.EVENT_WRITE, None)
                continue
            try:
                n = s.send(out)
            except BlockingIOError:
                continue
            st[s][1] = out = out[n:]
            if not len(out):
                sel.unregister(s)
                del st[s]
                s.close()


class Handler(socketserver.StreamRequestHandler):
    def handle(self):
        got = self.rfile.read()
        self.wfile.write(answer(got) + data)


def client_memcached():
    s = socket.create_connection((host, port), timeout=30)
    f = s.makefile("rwb")
    for i in range(2000):
        v = b"v%d" % i
        f.write(b"set k%d 0 0 %d\r\n%s\r\n" % (i, len(v), v))
    f.flush()
    stored = sum(1 for _ in range(2000) if f.readline() == b"STORED\r\n")
    big = bytes(range(256)) * 4000
    f.write(b"set big 0 0 %d\r\n%s\r\n" % (len(big), big))
    f.flush()
    print(stored, f.readline())
    f.write(b"get " + b" ".join(b"k%d" % i for i in range(0, 2000, 7)) +
            b" big\r\n")
    f.flush()
    h = hashlib.sha256()
    while True:
        l = f.readline()
        h.update(l)
        if l in (b"END\r\n", b""):
            break
    print(h.hexdigest())
    f.write(b"quit\r\n")
    f.flush()
    s.close()


if role == "client":
    if style == "asyncio":
        asyncio.run(client_asyncio())
    elif style == "memcached":
        client_memcached()
    else:
        client_sync()
elif style == "asyncio":
    asyncio.run(serve_asyncio())
elif style in ("sendfile", "sockall"):
    asyncio.run(serve_loop_sock(style == "sendfile"))
elif style == "selectors":
    serve_selectors()
else:
    cls = {"forking": socketserver.ForkingTCPServer,
           "threading": socketserver.ThreadingTCPServer}[style]
    cls.allow_reuse_address = True
    with cls((host, port), Handler) as s:
        s.serve_forever()
