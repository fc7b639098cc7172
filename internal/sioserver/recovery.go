package sioserver

import (
	"encoding/json"
	"slices"
	"strconv"
	"time"
)

// Bounds of connection state recovery.
const (
	sessionLogSize   = 1024            // events kept per session
	maxSessions      = 1024            // sessions kept per server
	maxDisconnection = 2 * time.Minute // how long a lost session stays restorable
)

// session is a recoverable namespace connection.
type session struct {
	pid, sid, ns string
	owner        *Conn // nil while detached
	detachedAt   time.Time
	log          []logEntry
}

// logEntry is an event sent to a session, as written on the wire.
type logEntry struct {
	offset string
	text   []byte
	atts   [][]byte
}

func (ss *session) expired(now time.Time) bool {
	return ss.owner == nil && now.Sub(ss.detachedAt) > maxDisconnection
}

// find returns the index of the entry with offset, or -1.
func (ss *session) find(offset string) int {
	return slices.IndexFunc(ss.log, func(e logEntry) bool { return e.offset == offset })
}

func (ss *session) add(e logEntry) {
	if len(ss.log) >= sessionLogSize {
		ss.log = slices.Delete(ss.log, 0, len(ss.log)-sessionLogSize+1)
	}
	ss.log = append(ss.log, e)
}

// openSession returns the state of an accepted CONNECT to ns on c and,
// when it restores a session, the entries the client missed.
func (s *Server) openSession(c *Conn, ns string, auth json.RawMessage) (*nsState, []logEntry) {
	st := &nsState{sid: newID(), done: make(chan struct{})}
	if !s.opts.Recovery {
		return st, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	sess, missed, ok := s.restoreLocked(c, ns, auth)
	if ok {
		st.sid, st.sess = sess.sid, sess
		return st, missed
	}
	st.sess = s.newSessionLocked(c, ns, st.sid)
	return st, nil
}

// restoreLocked hands the session named by auth's pid over to c when it
// exists for ns, has not expired and still logs auth's offset.
func (s *Server) restoreLocked(c *Conn, ns string, auth json.RawMessage) (*session, []logEntry, bool) {
	pid, offset, ok := recoveryAuth(auth)
	if !ok {
		return nil, nil, false
	}
	sess := s.sessions[pid]
	if sess == nil || sess.ns != ns || sess.expired(time.Now()) {
		return nil, nil, false
	}
	i := sess.find(offset)
	if i < 0 {
		return nil, nil, false
	}
	sess.owner, sess.detachedAt = c, time.Time{}
	s.logf("sioserver: %s restored session %s of %s", c.id, pid, ns)
	return sess, slices.Clone(sess.log[i+1:]), true
}

// recoveryAuth extracts the string "pid" and "offset" of a CONNECT auth.
func recoveryAuth(auth json.RawMessage) (pid, offset string, ok bool) {
	var a struct {
		PID    *string `json:"pid"`
		Offset *string `json:"offset"`
	}
	if json.Unmarshal(auth, &a) != nil || a.PID == nil || a.Offset == nil {
		return "", "", false
	}
	return *a.PID, *a.Offset, true
}

func (s *Server) newSessionLocked(c *Conn, ns, sid string) *session {
	s.evictLocked()
	sess := &session{pid: newID(), sid: sid, ns: ns, owner: c}
	s.sessions[sess.pid] = sess
	return sess
}

// evictLocked makes room for a session: it forgets expired sessions and,
// when still full, the session detached for the longest time.
func (s *Server) evictLocked() {
	now := time.Now()
	var oldest *session
	for pid, ss := range s.sessions {
		if ss.expired(now) {
			delete(s.sessions, pid)
			continue
		}
		if ss.owner == nil && (oldest == nil || ss.detachedAt.Before(oldest.detachedAt)) {
			oldest = ss
		}
	}
	if len(s.sessions) >= maxSessions && oldest != nil {
		delete(s.sessions, oldest.pid)
	}
}

// record numbers and logs an event for sess, built by build with its
// offset, and returns the frame to write. Events of a session that another
// connection took over are sent without offset and not logged.
func (s *Server) record(c *Conn, sess *session, build func(offset string) []byte, atts [][]byte) []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sess.owner != c {
		return build("")
	}
	return s.recordLocked(sess, build, atts)
}

func (s *Server) recordLocked(sess *session, build func(offset string) []byte, atts [][]byte) []byte {
	s.offset++
	e := logEntry{offset: strconv.FormatUint(s.offset, 36), atts: cloneAtts(atts)}
	e.text = build(e.offset)
	sess.add(e)
	return e.text
}

// logDetached logs an event for every detached session of ns.
func (s *Server) logDetached(ns, event string, m encoded) {
	build := func(offset string) []byte { return eventFrame(ns, event, m, 0, false, offset) }
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, ss := range s.sessions {
		if ss.ns == ns && ss.owner == nil && !ss.expired(now) {
			s.recordLocked(ss, build, m.atts)
		}
	}
}

// detachLocked marks the sessions of a lost connection restorable.
func (s *Server) detachLocked(c *Conn) {
	now := time.Now()
	for _, ss := range s.sessions {
		if ss.owner == c {
			ss.owner, ss.detachedAt = nil, now
		}
	}
}

// discard forgets a session ended on purpose (a DISCONNECT either way).
func (s *Server) discard(c *Conn, sess *session) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sess.owner == c {
		delete(s.sessions, sess.pid)
	}
}

func cloneAtts(atts [][]byte) [][]byte {
	if len(atts) == 0 {
		return nil
	}
	out := make([][]byte, len(atts))
	for i, a := range atts {
		out[i] = slices.Clone(a)
	}
	return out
}
