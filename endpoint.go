package siostream

import (
	"errors"
	"fmt"
	"net/url"
)

// endpointURL turns the user's URL into the Engine.IO WebSocket URL.
// Errors never quote the URL: it may carry a password or a token.
func endpointURL(raw, path string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("siostream: bad URL: %v", err)
	}
	switch u.Scheme {
	case "http", "ws":
		u.Scheme = "ws"
	case "https", "wss":
		u.Scheme = "wss"
	default:
		return nil, fmt.Errorf("siostream: bad URL scheme %q (want http, https, ws or wss)", u.Scheme)
	}
	if u.Host == "" {
		return nil, errors.New("siostream: URL has no host")
	}
	if path == "" {
		path = u.Path
	}
	if path == "" || path == "/" {
		path = "/socket.io/"
	}
	u.Path, u.RawPath, u.Fragment, u.RawFragment = path, "", "", ""
	q := u.Query()
	q.Set("EIO", "4")
	q.Set("transport", "websocket")
	u.RawQuery = q.Encode()
	return u, nil
}
