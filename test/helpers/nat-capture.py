# Packet capture at the relay for test/integration/nat-netns.test.ts: an AF_PACKET raw socket
# in the relay's namespace sees every frame on every interface (what a relay operator could
# capture). For each UDP payload it counts relay envelopes (byte 1 = 0x20) and looks for the
# application's plaintext marker. On SIGTERM it prints one JSON line with the counts.
import json, signal, socket, struct, sys

MARKER = b'STT-PLAINTEXT-MARKER'
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.ntohs(0x0003))
# A deep buffer: a relay moving 100+ MB/s must not outrun the capture.
s.setsockopt(socket.SOL_SOCKET, 33, 256 << 20)  # SO_RCVBUFFORCE
s.settimeout(0.2)
stats = {'frames': 0, 'udp': 0, 'udpBytes': 0, 'relayEnvelopes': 0, 'markerHits': 0}
running = True

def stop(*_):
    global running
    running = False

signal.signal(signal.SIGTERM, stop)
print(json.dumps({'event': 'capturing'}), flush=True)
while running:
    try:
        frame, addr = s.recvfrom(65535)
    except socket.timeout:
        continue
    except InterruptedError:
        continue
    stats['frames'] += 1
    # Loopback frames have an Ethernet header of zeros too (14 bytes) on Linux.
    if len(frame) < 14 + 20 or struct.unpack('!H', frame[12:14])[0] != 0x0800:
        continue
    ip = frame[14:]
    ihl = (ip[0] & 0x0F) * 4
    if ip[9] != 17 or len(ip) < ihl + 8:
        continue
    payload = ip[ihl + 8:]
    stats['udp'] += 1
    stats['udpBytes'] += len(payload)
    if len(payload) > 11 and payload[1] == 0x20:
        stats['relayEnvelopes'] += 1
    stats['markerHits'] += payload.count(MARKER)
# struct tpacket_stats { u32 packets; u32 drops; } (SOL_PACKET 263, PACKET_STATISTICS 6)
pk, drops = struct.unpack('II', s.getsockopt(263, 6, 8))
stats['kernelDrops'] = drops
print(json.dumps({'event': 'capture', **stats}), flush=True)
