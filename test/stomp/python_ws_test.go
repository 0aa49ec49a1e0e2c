package stomp_test

import (
	"strings"
	"testing"
	"time"

	"github.com/omnibroker/broker/test"
)

// pyWSScript runs pyScenario with stomp.py over WebSocket.
//
// Debian's python3-stomp is stomp.py 8.0.0, which has no WebSocket
// transport (upstream added stomp.adapter.ws.WSTransport /
// WSStompConnection in a later release, and that one speaks STOMP 1.2 only
// and offers no Sec-WebSocket-Protocol). So the script plugs a small
// transport built on Debian's python3-websocket (websocket-client) into
// stomp.py's own BaseTransport, which keeps stomp.py's frame encoder,
// parser, receipt and heart-beat machinery, and combines it with stomp.py's
// Protocol10/11/12 classes: all three STOMP versions run over WebSocket.
// Each outgoing frame (and heart-beat EOL) is one WebSocket text message.
//
// The transport also checks the STOMP-over-WebSocket framing the broker
// promises (listeners/ws Conn.MessageOriented): every message it receives
// is exactly one NUL-terminated frame or a heart-beat EOL, never a partial
// or concatenated frame; anything else prints FRAMING.
//
// Arguments: url, version, subprotocols (comma-separated, may be empty),
// CA file for wss (may be empty).
const pyWSScript = `
import sys, ssl, time, threading, urllib.parse, stomp, websocket
from stomp.connect import BaseConnection
from stomp.protocol import Protocol10, Protocol11, Protocol12
from stomp.transport import BaseTransport
url, ver, subs, ca = sys.argv[1], sys.argv[2], [s for s in sys.argv[3].split(',') if s], sys.argv[4]

class WSTransport(BaseTransport):
    def __init__(self):
        BaseTransport.__init__(self)
        self.socket = None
        self.wlock = threading.Lock()
        self.vhost = None  # 1.1+ CONNECT host header: the URL's host
    def attempt_connection(self):
        sslopt = {'ca_certs': ca, 'cert_reqs': ssl.CERT_REQUIRED} if ca else None
        self.socket = websocket.create_connection(url, subprotocols=subs or None, sslopt=sslopt, timeout=10)
        self.socket.settimeout(None)
        u = urllib.parse.urlsplit(url)
        self.current_host_and_port = (u.hostname, u.port)
        print('SUBPROTOCOL', self.socket.getsubprotocol())
    def is_connected(self):
        s = self.socket
        return s is not None and s.connected and BaseTransport.is_connected(self)
    def send(self, data):
        s = self.socket
        if s is None:
            raise stomp.exception.NotConnectedException()
        with self.wlock:
            s.send(data, opcode=websocket.ABNF.OPCODE_TEXT)
    def receive(self):
        s = self.socket
        if s is None:
            return b''
        try:
            d = s.recv()
        except (websocket.WebSocketException, OSError):
            return b''
        if isinstance(d, str):
            d = d.encode('utf-8')
        if d and d.strip(b'\r\n') and not (d.rstrip(b'\r\n').endswith(b'\x00') and d.count(b'\x00') == 1):
            print('FRAMING', repr(d[:200]))
        return d
    def disconnect_socket(self):
        self.running = False
        s, self.socket = self.socket, None
        if s is not None:
            s.close()  # sends a WebSocket close frame
        if not self.notified_on_disconnect:
            self.notify('disconnected')
    def cleanup(self):
        s, self.socket = self.socket, None
        if s is not None:
            s.close()

class WS10(stomp.Connection10):
    def __init__(self, t):
        BaseConnection.__init__(self, t)
        Protocol10.__init__(self, t)
class WS11(stomp.Connection11):
    def __init__(self, t):
        BaseConnection.__init__(self, t)
        Protocol11.__init__(self, t, (2000, 2000))
class WS12(stomp.Connection12):
    def __init__(self, t):
        BaseConnection.__init__(self, t)
        Protocol12.__init__(self, t, (2000, 2000))

conn = {'1.0': WS10, '1.1': WS11, '1.2': WS12}[ver](WSTransport())
tag = ver + '-ws-' + url.split('/')[-1] + '-' + '-'.join(subs) + ('-tls' if ca else '')
` + pyScenario

func TestStompPyWebSocket(t *testing.T) {
	cert := test.NewCert(t)
	b := test.StartBroker(t, test.WithTLS(cert, "ws"))
	b2 := test.StartBroker(t)
	cases := []struct {
		name, scheme, addr, path, subs, ca string
		want                               func(ver string) string // subprotocol the broker must pick
	}{
		// Offering only the version's own subprotocol on /stomp.
		{"stomp-path", "ws", b2.WS, "/stomp", "", "", func(v string) string { return "v" + strings.ReplaceAll(v, ".", "") + ".stomp" }},
		// Offering all three on the shared /ws path: the broker answers with
		// the newest; the STOMP version is still negotiated by CONNECT
		// accept-version (STOMP 1.2 "Protocol Negotiation"), so a 1.0 client
		// works under v12.stomp.
		{"ws-path-all", "ws", b2.WS, "/ws", "v10.stomp,v11.stomp,v12.stomp", "", func(string) string { return "v12.stomp" }},
		// No Sec-WebSocket-Protocol at all (what upstream stomp.py's own
		// WSTransport sends), over TLS.
		{"wss-stomp-path-none", "wss", b.WS, "/stomp", "-", cert.CertFile, func(string) string { return "None" }},
	}
	for _, c := range cases {
		for _, v := range []string{"1.0", "1.1", "1.2"} {
			t.Run(c.name+"/"+v, func(t *testing.T) {
				subs := c.subs
				switch subs {
				case "":
					subs = c.want(v)
				case "-":
					subs = ""
				}
				url := c.scheme + "://" + c.addr + c.path
				out, err := test.Python(t, 60*time.Second, pyWSScript, url, v, subs, c.ca)
				if err != nil {
					t.Fatalf("python %s %s: %v\n%s", url, v, err, out)
				}
				checkPy(t, out, v)
				if w := "SUBPROTOCOL " + c.want(v); !strings.Contains(out, w) {
					t.Fatalf("stomp.py %s over %s: missing %q in:\n%s", v, url, w, out)
				}
				if c.ca != "" && !strings.Contains(out, "TLS TLSv1.3") {
					t.Fatalf("stomp.py %s over %s: not on TLS 1.3:\n%s", v, url, out)
				}
				if strings.Contains(out, "FRAMING") {
					t.Fatalf("stomp.py %s over %s: a WebSocket message was not exactly one frame:\n%s", v, url, out)
				}
			})
		}
	}
}
