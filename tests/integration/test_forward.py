# SPDX-License-Identifier: MIT
"""Forwarding semantics through the real ringlbd: integrity, order, half-close, reset,
backpressure (bounded memory under a slow reader), idle timeout and max_connections."""

import contextlib
import fcntl
import hashlib
import os
import signal
import socket
import struct
import threading
import time
import unittest

from harness import (IO_MODE, SANITIZED, Backend, Daemon, drain_hash, echo_handler, proxy_config,
                     recv_all, metric, scrape, stream_random, wait_until)

MiB = 1 << 20
HEADER = struct.Struct("!IQI")  # connection id, bytes the backend sends back, seed


def source_sink_handler(conn, backend):
    """Reads a header, then at once sends the requested random bytes (then SHUT_WR) and
    hashes everything else it receives until EOF."""
    header = b""
    while len(header) < HEADER.size:
        part = conn.recv(HEADER.size - len(header))
        if not part:
            raise AssertionError("EOF inside the header")
        header += part
    cid, back, seed = HEADER.unpack(header)
    sent = {}

    def send():
        sent["hash"] = stream_random(conn, back, seed=seed)
        conn.shutdown(socket.SHUT_WR)
    t = threading.Thread(target=send)
    t.start()
    n, h = drain_hash(conn)
    t.join()
    return cid, n, h, sent["hash"]


def exchange(port, cid, up, down, results, errors):
    """A client sending `up` random bytes while receiving `down`, each way hashed."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=60) as s:
            s.sendall(HEADER.pack(cid, down, cid * 2 + 1))
            got = {}

            def receive():
                got["n"], got["hash"] = drain_hash(s)
            t = threading.Thread(target=receive)
            t.start()
            sent_hash = stream_random(s, up, seed=cid * 2)
            s.shutdown(socket.SHUT_WR)  # half-close while the download may still run
            t.join(120)
            results[cid] = (sent_hash, got["n"], got["hash"])
    except Exception as e:
        errors.append((cid, e))


class Integrity(unittest.TestCase):
    def run_exchanges(self, conns, up_total, down_total):
        with Backend(source_sink_handler, backlog=256) as be:
            cfg, port = proxy_config([be.port])
            with Daemon(cfg) as d:
                results, errors, threads = {}, [], []
                for cid in range(conns):
                    up = up_total // conns + (up_total % conns if cid == 0 else 0)
                    down = down_total // conns + (down_total % conns if cid == 0 else 0)
                    t = threading.Thread(target=exchange,
                                         args=(port, cid, up, down, results, errors))
                    t.start()
                    threads.append((t, up, down))
                for t, _, _ in threads:
                    t.join(300)
                self.assertEqual(errors, [])
                self.assertTrue(wait_until(lambda: len(be.results) == conns, 30))
                self.assertEqual(be.errors, [])
                by_id = {r[0]: r for r in be.results}
                for cid, (t, up, down) in enumerate(threads):
                    sent_up, got_down, got_down_hash = results[cid]
                    _, be_got_up, be_got_up_hash, be_sent_down_hash = by_id[cid]
                    self.assertEqual(be_got_up, up, f"connection {cid}: bytes upstream")
                    self.assertEqual(be_got_up_hash, sent_up, f"connection {cid}: upstream SHA-256")
                    self.assertEqual(got_down, down, f"connection {cid}: bytes downstream")
                    self.assertEqual(got_down_hash, be_sent_down_hash,
                                     f"connection {cid}: downstream SHA-256")
                self.assertEqual(d.stop(), 0)

    def test_64_mib_each_way_over_100_concurrent_connections(self):
        self.run_exchanges(100, 64 * MiB, 64 * MiB)

    def test_64_mib_each_way_over_one_connection(self):
        self.run_exchanges(1, 64 * MiB, 64 * MiB)

    def test_many_small_writes_arrive_in_order(self):
        # 20,000 sequence-numbered 8-byte writes with Nagle off: each is its own segment, so
        # overlapping sends in the proxy would show up as reordering.
        with Backend(echo_handler) as be:
            cfg, port = proxy_config([be.port])
            with Daemon(cfg) as d:
                with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
                    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                    got = {}
                    t = threading.Thread(target=lambda: got.update(data=recv_all(s)))
                    t.start()
                    for i in range(20000):
                        s.send(struct.pack("!Q", i))
                    s.shutdown(socket.SHUT_WR)
                    t.join(60)
                data = got["data"]
                self.assertEqual(len(data), 8 * 20000)
                seq = struct.unpack(f"!{20000}Q", data)
                self.assertEqual(list(seq), list(range(20000)))
                self.assertEqual(d.stop(), 0)

    def test_urgent_data_does_not_stall_the_connection(self):
        # A client's TCP urgent (MSG_OOB) byte: every receive path steps over it, as HAProxy
        # and nginx do, and the bytes after it keep flowing. (splice stops at an urgent mark
        # while poll keeps saying readable: a pump that only polled again would spin.)
        with Backend(echo_handler) as be:
            cfg, port = proxy_config([be.port])
            with Daemon(cfg) as d:
                with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
                    s.sendall(b"abc")
                    time.sleep(0.05)
                    s.send(b"!", socket.MSG_OOB)
                    time.sleep(0.05)
                    s.sendall(b"def")
                    s.shutdown(socket.SHUT_WR)
                    self.assertEqual(recv_all(s, timeout=10), b"abcdef")
                self.assertEqual(d.stop(), 0)


class SpliceAuto(unittest.TestCase):
    """listeners[].splice "auto": a direction that carries bulk moves to splice mid-stream,
    with every byte in order; one that carries small messages never does."""

    def switches(self, d):
        samples, _ = scrape(d)
        return metric(samples, "ringlb_listener_splice_switches_total", listener="it")

    def test_splice_pipes_take_the_listeners_pipe_bytes(self):
        # After a transfer each worker keeps its empty pipes (SparePipes): their capacity is
        # what the listener asked for, read through /proc like any other descriptor's.
        with Backend(echo_handler) as be:
            cfg, port = proxy_config([be.port], listener={"splice": True, "pipe_bytes": 131072})
            with Daemon(cfg) as d:
                with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
                    payload = os.urandom(4 * MiB)
                    threading.Thread(target=lambda: (s.sendall(payload), s.shutdown(socket.SHUT_WR)),
                                     daemon=True).start()
                    self.assertEqual(recv_all(s), payload)
                sizes = []
                fd_dir = f"/proc/{d.proc.pid}/fd"
                for name in os.listdir(fd_dir):
                    with contextlib.suppress(OSError):
                        if os.readlink(f"{fd_dir}/{name}").startswith("pipe:"):
                            fd = os.open(f"{fd_dir}/{name}", os.O_RDONLY | os.O_NONBLOCK)
                            try:
                                sizes.append(fcntl.fcntl(fd, fcntl.F_GETPIPE_SZ))
                            finally:
                                os.close(fd)
        self.assertIn(131072, sizes, f"pipe capacities: {sizes}")
        self.assertNotIn(65536, sizes, f"pipe capacities: {sizes}")

    def test_bulk_moves_to_splice_and_small_messages_do_not(self):
        if IO_MODE == "no_ring":
            self.skipTest("auto switches from the buffer ring path only")
        with Backend(source_sink_handler) as be:
            cfg, port = proxy_config([be.port], listener={"splice": "auto"})
            with Daemon(cfg) as d:
                # Small messages, each answered before the next: never two full buffers.
                with Backend(echo_handler) as echo:
                    cfg2, port2 = proxy_config([echo.port], listener={"splice": "auto"})
                    with Daemon(cfg2) as d2:
                        with socket.create_connection(("127.0.0.1", port2), timeout=10) as s:
                            for i in range(200):
                                msg = b"%05d" % i * 20
                                s.sendall(msg)
                                got = b""
                                while len(got) < len(msg):
                                    part = s.recv(len(msg) - len(got))
                                    self.assertTrue(part, "EOF mid-exchange")
                                    got += part
                                self.assertEqual(got, msg)
                        self.assertEqual(self.switches(d2), 0)
                        self.assertEqual(d2.stop(), 0)
                # Bulk down (32 MiB) and a little up: the download switches, mid-stream.
                results, errors = {}, []
                exchange(port, 7, 1000, 32 * MiB, results, errors)
                self.assertEqual(errors, [])
                self.assertTrue(wait_until(lambda: len(be.results) == 1, 30))
                _, be_got_up, be_got_up_hash, be_sent_down_hash = be.results[0]
                sent_up, got_down, got_down_hash = results[7]
                self.assertEqual((be_got_up, be_got_up_hash), (1000, sent_up))
                self.assertEqual(got_down, 32 * MiB)
                self.assertEqual(got_down_hash, be_sent_down_hash, "downstream SHA-256")
                self.assertGreaterEqual(self.switches(d), 1, "the bulk direction never spliced")
                self.assertEqual(d.stop(), 0)


    def test_paced_bulk_beside_small_messages_moves_to_splice(self):
        # Bulk in 32 KiB writes, 1 ms apart, while another connection on the same worker
        # exchanges small messages. Consumed incrementally, those messages leave the ring's
        # head buffer part-filled, so each bulk receive starts mid-buffer: a buffer's rest,
        # a whole buffer, a start. The switch has to see that as bulk (it once counted only
        # whole buffers, and no two came in a row).
        if IO_MODE == "no_ring":
            self.skipTest("auto switches from the buffer ring path only")
        with Backend(echo_handler) as be:
            cfg, port = proxy_config([be.port], listener={"splice": "auto"})
            with Daemon(cfg, workers=1) as d:
                stop = threading.Event()
                chatter_errors = []

                def chatter():
                    try:
                        with socket.create_connection(("127.0.0.1", port), timeout=10) as c:
                            i = 0
                            while not stop.is_set():
                                msg = b"%07d" % i
                                c.sendall(msg)
                                got = b""
                                while len(got) < len(msg):
                                    part = c.recv(len(msg) - len(got))
                                    if not part:
                                        raise AssertionError("EOF mid-exchange")
                                    got += part
                                if got != msg:
                                    raise AssertionError(f"{got!r} != {msg!r}")
                                i += 1
                    except Exception as e:  # reported below
                        chatter_errors.append(e)

                t = threading.Thread(target=chatter)
                t.start()
                try:
                    with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
                        got = {}

                        def receive():
                            got["n"], got["hash"] = drain_hash(s)
                        r = threading.Thread(target=receive)
                        r.start()
                        h = hashlib.sha256()
                        block = os.urandom(32 * 1024)
                        for i in range(256):  # 8 MiB
                            s.sendall(block)
                            h.update(block)
                            time.sleep(0.001)
                        s.shutdown(socket.SHUT_WR)
                        r.join(60)
                    self.assertEqual(got.get("n"), 256 * len(block))
                    self.assertEqual(got.get("hash"), h.hexdigest(), "echoed bytes differ")
                finally:
                    stop.set()
                    t.join(30)
                self.assertEqual(chatter_errors, [])
                self.assertGreaterEqual(self.switches(d), 1, "paced bulk never spliced")


class HalfCloseAndReset(unittest.TestCase):
    def test_client_half_close_then_backend_answers(self):
        def answer_after_eof(conn, backend):
            request = recv_all(conn)
            conn.sendall(b"got " + str(len(request)).encode())
            return request
        with Backend(answer_after_eof) as be:
            cfg, port = proxy_config([be.port])
            with Daemon(cfg):
                with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
                    s.sendall(b"x" * 100000)
                    s.shutdown(socket.SHUT_WR)  # the backend sees EOF after the last byte...
                    self.assertEqual(recv_all(s), b"got 100000")  # ...and still answers
                self.assertTrue(wait_until(lambda: len(be.results) == 1))
                self.assertEqual(be.results[0], b"x" * 100000)

    def test_backend_half_close_then_client_keeps_sending(self):
        done = threading.Event()

        def greet_then_listen(conn, backend):
            conn.sendall(b"hello")
            conn.shutdown(socket.SHUT_WR)
            data = recv_all(conn)
            done.set()
            return data
        with Backend(greet_then_listen) as be:
            cfg, port = proxy_config([be.port])
            with Daemon(cfg):
                with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
                    self.assertEqual(recv_all(s), b"hello")  # EOF after the last byte
                    for _ in range(10):  # the other direction still flows
                        s.sendall(b"y" * 1000)
                        time.sleep(0.01)
                    s.shutdown(socket.SHUT_WR)
                    self.assertTrue(done.wait(10))
                self.assertEqual(be.results, [b"y" * 10000])

    def test_backend_reset_resets_the_client(self):
        def reset(conn, backend):
            conn.recv(10)
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        with Backend(reset) as be:
            cfg, port = proxy_config([be.port])
            with Daemon(cfg):
                with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
                    s.sendall(b"ping")
                    with self.assertRaises(ConnectionResetError):
                        recv_all(s, timeout=10)

    def test_client_reset_resets_the_backend(self):
        outcome = {}

        def wait_for_reset(conn, backend):
            try:
                outcome["data"] = recv_all(conn, timeout=10)
            except ConnectionResetError:
                outcome["reset"] = True
        with Backend(wait_for_reset) as be:
            cfg, port = proxy_config([be.port])
            with Daemon(cfg):
                s = socket.create_connection(("127.0.0.1", port), timeout=10)
                s.sendall(b"ping")
                self.assertTrue(wait_until(lambda: be.accepted == 1))
                time.sleep(0.1)
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                s.close()
                self.assertTrue(wait_until(lambda: be.open == 0, 10))
                self.assertEqual(outcome, {"reset": True})

    def test_a_reset_right_behind_the_clients_bytes_resets_the_backend(self):
        # Bytes and then a RST, both waiting when ringlbd looks (it is stopped meanwhile): the
        # bytes may go on, but the backend must then see a reset, not a clean close. (A socket
        # reports its reset once: a second read after it finds a plain EOF.)
        outcome = {}

        def read_until_end(conn, backend):
            data = b""
            try:
                while part := conn.recv(4096):
                    data += part
                outcome["closed"] = data
            except ConnectionResetError:
                outcome["reset"] = data
        with Backend(read_until_end) as be:
            cfg, port = proxy_config([be.port])
            with Daemon(cfg) as d:
                s = socket.create_connection(("127.0.0.1", port), timeout=10)
                s.sendall(b"ping")
                self.assertTrue(wait_until(lambda: be.accepted == 1))
                time.sleep(0.1)  # "ping" is through
                os.kill(d.proc.pid, signal.SIGSTOP)
                try:
                    # Every thread stopped: none may take "pong" before the RST is in.
                    self.assertTrue(wait_until(lambda: all_threads_stopped(d.proc.pid), 10))
                    s.sendall(b"pong")
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    s.close()
                    time.sleep(0.1)
                finally:
                    os.kill(d.proc.pid, signal.SIGCONT)
                self.assertTrue(wait_until(lambda: be.open == 0, 10))
                self.assertEqual(list(outcome), ["reset"], outcome)


def all_threads_stopped(pid):
    """Whether every thread of process `pid` is stopped (state T in /proc/PID/task/*/stat)."""
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/stat") as f:
                if f.read().rsplit(")", 1)[1].split()[0] != "T":
                    return False
        except FileNotFoundError:
            pass  # the thread ended
    return True

def segments_in(sock):
    """TCP segments `sock` has received so far, SYN-ACK or SYN included (struct tcp_info's
    tcpi_segs_in, Linux 4.2 or later)."""
    info = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 232)
    return struct.unpack_from("I", info, 140)[0]


class FewerPackets(unittest.TestCase):
    """Each packet on a connection costs both ends a pass through the TCP stack: ringlbd saves
    two per short connection where the bytes allow it, and must not delay anything doing so."""

    def test_a_reply_and_the_close_behind_it_arrive_in_one_segment(self):
        # A backend that speaks first and closes at once: the client should see the SYN-ACK,
        # then one segment with the greeting and the FIN (MSG_MORE, then the shutdown).
        def greet_and_close(conn, backend):
            conn.sendall(b"220 ready\r\n")
        counts, waits = [], []
        with Backend(greet_and_close) as be:
            cfg, port = proxy_config([be.port])
            with Daemon(cfg):
                # Until 3 merged: a FIN that comes after ringlbd took the greeting goes alone.
                while len(counts) < 40 and counts.count(2) < 3:
                    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
                        start = time.monotonic()
                        self.assertEqual(recv_all(s), b"220 ready\r\n")
                        waits.append(time.monotonic() - start)
                        counts.append(segments_in(s))
        # Nothing waits for a timer: a delayed ACK or an unpushed segment takes 200 ms or more.
        # (The median: one connection may be slow on a loaded machine for other reasons.)
        self.assertLess(sorted(waits)[len(waits) // 2], 0.1, waits)
        if IO_MODE == "no_ring":
            return  # the buffered pump sends the FIN on its own
        # Without the merge every client receives 3 (SYN-ACK, greeting, FIN).
        self.assertEqual(counts.count(2), 3, f"segments each client received: {counts}")

    def requests_counting_backend_segments(self, listener, enough):
        """Requests through ringlbd until `enough(counts)`: the TCP segments the backend had
        received when each request arrived, the SYN included."""
        counts = []

        def read_request(conn, backend):
            data = conn.recv(100)
            counts.append(segments_in(conn))
            conn.sendall(b"ok " + data)
        with Backend(read_request) as be:
            cfg, port = proxy_config([be.port], listener=listener)
            with Daemon(cfg):
                while not enough(counts):
                    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
                        s.sendall(b"GET /")
                        self.assertEqual(recv_all(s), b"ok GET /")
        return counts

    def test_the_handshake_ack_leaves_with_the_first_request(self):
        # The client's request waits in its socket when ringlbd connects: the backend should
        # get its SYN, then one segment with the handshake's ACK and the request. Until 3
        # merged: where ringlbd connects before the request arrives, the ACK goes alone
        # (about half the time on a busy machine).
        counts = self.requests_counting_backend_segments(
            None, lambda c: len(c) >= 40 or c.count(2) >= 3)
        # Without it every backend receives 3 (SYN, ACK, request).
        self.assertEqual(counts.count(2), 3, f"segments each backend received: {counts}")

    def test_smart_connect_off_sends_the_handshake_ack_alone(self):
        counts = self.requests_counting_backend_segments(
            {"smart_connect": False}, lambda c: len(c) >= 10)
        self.assertEqual(counts, [3] * 10, "segments each backend received")

    def test_a_backend_that_speaks_first_is_not_kept_waiting(self):
        # No client bytes: the handshake's ACK must go at once, or the backend's accept()
        # waits 200 ms for the delayed-ACK timer.
        accepted = []

        def note_accept(conn, backend):
            accepted.append(time.monotonic())
            conn.sendall(b"hi")
            conn.recv(10)
        with Backend(note_accept) as be:
            cfg, port = proxy_config([be.port])
            with Daemon(cfg):
                waits = []
                for i in range(5):
                    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
                        start = time.monotonic()
                        self.assertEqual(s.recv(10), b"hi")
                        self.assertTrue(wait_until(lambda: len(accepted) == i + 1))
                        waits.append(accepted[i] - start)
        self.assertLess(sorted(waits)[len(waits) // 2], 0.1, waits)


class Backpressure(unittest.TestCase):
    def test_slow_reader_keeps_daemon_memory_bounded(self):
        total = 256 * MiB

        def firehose(conn, backend):
            return stream_random(conn, total, seed=7, chunk=1 << 18)
        with Backend(firehose) as be:
            cfg, port = proxy_config([be.port], listener={"buffer_bytes": 65536})
            with Daemon(cfg) as d:
                baseline = d.rss_bytes()
                peak = baseline
                with socket.create_connection(("127.0.0.1", port), timeout=60) as s:
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 16)
                    import hashlib
                    h = hashlib.sha256()
                    n = 0
                    reads = 0
                    while n < total:
                        data = s.recv(1 << 20)
                        if not data:
                            break
                        h.update(data)
                        n += len(data)
                        reads += 1
                        if reads % 64 == 0:
                            peak = max(peak, d.rss_bytes())
                        if n < 16 * MiB:
                            time.sleep(0.002)  # slow at first: the backlog builds up upstream
                self.assertEqual(n, total)
                self.assertTrue(wait_until(lambda: len(be.results) == 1, 30))
                self.assertEqual(h.hexdigest(), be.results[0])
                # One 64 KiB buffer per direction; anything near the 256 MiB pushed means the
                # daemon buffered instead of pushing back.
                if not SANITIZED:  # ASan/TSan shadow memory would swamp the figure
                    self.assertLess(peak - baseline, 16 * MiB,
                                    f"RSS grew from {baseline} to {peak} bytes")


class Limits(unittest.TestCase):
    def test_idle_timeout_closes_both_sides_but_traffic_keeps_it_open(self):
        with Backend(echo_handler) as be:
            cfg, port = proxy_config([be.port], listener={"timeouts": {"idle_ms": 400}})
            with Daemon(cfg):
                with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
                    for i in range(8):  # 1.4 s of traffic, 0.2 s apart: never idle
                        if i > 0:
                            time.sleep(0.2)
                        s.sendall(b"k")
                        self.assertEqual(s.recv(1), b"k")
                    start = time.monotonic()
                    self.assertEqual(recv_all(s, timeout=10), b"")  # then closed for idleness
                    self.assertGreaterEqual(time.monotonic() - start, 0.35)
                self.assertTrue(wait_until(lambda: be.open == 0, 10))  # backend side too

    def test_max_connections_closes_the_extra_client_and_recovers(self):
        with Backend(echo_handler) as be:
            cfg, port = proxy_config([be.port], listener={"max_connections": 3})
            with Daemon(cfg) as d:
                held = [socket.create_connection(("127.0.0.1", port), timeout=10)
                        for _ in range(3)]
                for s in held:
                    s.sendall(b"a")
                    self.assertEqual(s.recv(1), b"a")
                extra = socket.create_connection(("127.0.0.1", port), timeout=10)
                try:
                    self.assertEqual(recv_all(extra, timeout=10), b"")  # closed at once
                except ConnectionResetError:
                    pass
                extra.close()
                held.pop().close()
                self.assertTrue(wait_until(lambda: be.open == 2, 10))
                # The session counts as open until it has closed both sides: wait for the
                # daemon's own count, not the backend's view, before expecting a free place.
                self.assertTrue(wait_until(lambda: metric(scrape(d)[0], "ringlb_listener_active_connections", listener="it") == 2, 10))
                with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
                    s.sendall(b"b")
                    self.assertEqual(s.recv(1), b"b")
                for s in held:
                    s.close()
                self.assertIsNone(d.proc.poll())
                self.assertIn("max_connections (3) reached", d.log_text())


if __name__ == "__main__":
    unittest.main(verbosity=2)
