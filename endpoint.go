package siostream

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// defaultPath is the Engine.IO endpoint path when Options.Path is zero.
const defaultPath = "/socket.io/"

// endpointURL turns the user's URL into the Engine.IO WebSocket URL: the
// scheme becomes ws or wss, the path is the Engine.IO path (Options.Path,
// else /socket.io/; the URL's own path names the namespace, see
// urlNamespace) and the query is kept, with EIO and transport set. Errors
// never quote the URL: it may carry a password or a token.
func endpointURL(raw, path string) (*url.URL, error) {
	u, err := parseURL(raw)
	if err != nil {
		return nil, err
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
		path = defaultPath
	}
	u.Path, u.RawPath, u.Fragment, u.RawFragment = path, "", "", ""
	q := u.Query()
	q.Set("EIO", "4")
	q.Set("transport", "websocket")
	u.RawQuery = q.Encode()
	return u, nil
}

func parseURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("siostream: bad URL: %v", err)
	}
	return u, nil
}

// urlNamespace returns the namespace the URL's path names, as
// socket.io-client reads it ("https://host/admin" joins /admin), or ""
// when the path is empty, "/", or the default Engine.IO path /socket.io
// (which names no namespace anyone would choose).
func urlNamespace(raw string) (string, error) {
	u, err := parseURL(raw)
	if err != nil {
		return "", err
	}
	p := u.Path
	if p == "" || p == "/" || strings.TrimSuffix(p, "/") == strings.TrimSuffix(defaultPath, "/") {
		return "", nil
	}
	return p, nil
}
