package refserver_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/siostream/siostream/internal/refserver"
)

func TestPollingHandshake(t *testing.T) {
	srv := refserver.Shared(t, refserver.Default)
	client := &http.Client{Timeout: readTimeout}
	resp, err := client.Get(srv.URL + "/socket.io/?EIO=4&transport=polling")
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	client.CloseIdleConnections()
	if err != nil {
		t.Fatal(err)
	}
	var o openPacket
	if !bytes.HasPrefix(body, []byte("0")) || json.Unmarshal(body[1:], &o) != nil {
		t.Fatalf("polling open packet %q", body)
	}
	if len(o.Upgrades) != 1 || o.Upgrades[0] != "websocket" {
		t.Fatalf("upgrades %v", o.Upgrades)
	}
}

func TestStartStop(t *testing.T) {
	if err := refserver.Available(); err != nil {
		t.Skip(err)
	}
	if _, err := refserver.Start("no-such-variant"); err == nil {
		t.Fatal("Start accepted an unknown variant")
	}
	s, err := refserver.Start(refserver.Default)
	if err != nil {
		t.Fatal(err)
	}
	c := dial(t, s, dialOptions{})
	c.readOpen()
	s.Stop()
	s.Stop()
	c.expectClosed(readTimeout)
	conn, err := net.DialTimeout("tcp", s.Addr(), time.Second)
	if err == nil {
		conn.Close()
		t.Fatal("server still accepts connections after Stop")
	}
	var nilServer *refserver.Server
	nilServer.Stop()
}
