package web

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/anxin-care/anxin"
	"github.com/anxin-care/anxin/api"
	"github.com/anxin-care/anxin/words"
)

// Board tells the open alarm boards that alarms changed. alarmd pokes it
// when an alarm opens, is escalated, accepted or closed; each board's event
// stream then renders its own area's list again.
type Board struct {
	mu     sync.Mutex
	subs   map[chan struct{}]struct{}
	closed chan struct{}
	once   sync.Once
}

// NewBoard makes a board with no watchers.
func NewBoard() *Board {
	return &Board{subs: map[chan struct{}]struct{}{}, closed: make(chan struct{})}
}

// Close ends every event stream (an HTTP server shutting down waits for
// open streams, which never go idle on their own).
func (b *Board) Close() { b.once.Do(func() { close(b.closed) }) }

// Poke wakes every watcher; a watcher already woken is not woken twice.
func (b *Board) Poke() {
	b.mu.Lock()
	defer b.mu.Unlock()
	for ch := range b.subs {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

func (b *Board) watch() (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	b.mu.Lock()
	b.subs[ch] = struct{}{}
	b.mu.Unlock()
	return ch, func() {
		b.mu.Lock()
		delete(b.subs, ch)
		b.mu.Unlock()
	}
}

// Watchers is the number of open event streams.
func (b *Board) Watchers() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.subs)
}

// boardAlarm is one open alarm with its chain's progress.
type boardAlarm struct {
	anxin.Alarm
	What     string
	Elder    string
	State    string
	Steps    []boardStep
	Waiting  string // how long since it opened
	Priority int
}

type boardStep struct {
	At      string
	To      string
	Channel string
	Status  string
}

// openAlarms lists the caller's open family alarms, unanswered first, then those
// being walked, then accepted; oldest first within each.
func (s *Server) openAlarms(ctx context.Context, srv *api.Server) ([]boardAlarm, error) {
	all, err := srv.Alarms30(ctx, "")
	if err != nil {
		return nil, err
	}
	book := words.Default()
	now := s.Now()
	all = slices.DeleteFunc(all, func(a anxin.Alarm) bool {
		return a.State == anxin.AlarmResolved || a.Route == anxin.RouteInstaller // maintenance alarms are on the device health page
	})
	ids := make([]string, len(all))
	for i := range all {
		ids[i] = all[i].Household
	}
	households, err := srv.HouseholdsByID(ctx, ids)
	if err != nil {
		return nil, err
	}
	var out []boardAlarm
	for _, a := range all {
		_, timeline, err := srv.AlarmTimeline(ctx, a.ID)
		if err != nil {
			return nil, err
		}
		h := households[a.Household]
		b := boardAlarm{Alarm: a, What: book.What(&a, &h), Elder: anxin.MaskName(h.Elder.Name), State: words.AlarmState(a.State),
			Waiting: waited(now.Sub(a.OpenedAt))}
		switch a.State {
		case anxin.AlarmUnanswered:
			b.Priority = 0
		case anxin.AlarmOpen:
			b.Priority = 1
		default:
			b.Priority = 2
		}
		for _, e := range timeline {
			if e.What == "opened" {
				continue
			}
			st := boardStep{At: whenOf(e.At), To: strings.TrimSpace(e.To + " " + e.Phone), Channel: words.Channel(e.Channel), Status: words.AttemptStatus(e.Status)}
			if e.What == "accepted" {
				st.Status = "已接受"
			}
			b.Steps = append(b.Steps, st)
		}
		out = append(out, b)
	}
	slices.SortStableFunc(out, func(x, y boardAlarm) int {
		if x.Priority != y.Priority {
			return x.Priority - y.Priority
		}
		return x.OpenedAt.Compare(y.OpenedAt)
	})
	return out, nil
}

func waited(d time.Duration) string {
	switch {
	case d < time.Minute:
		return "刚刚"
	case d < time.Hour:
		return fmt.Sprintf("%d 分钟前", int(d.Minutes()))
	default:
		return fmt.Sprintf("%d 小时前", int(d.Hours()))
	}
}

func (s *Server) boardPage(req *request) error {
	alarms, err := s.openAlarms(req.ctx, req.api)
	if err != nil {
		return err
	}
	orders, err := s.areaOrders(req, false) // the board shows masked names
	if err != nil {
		return err
	}
	s.render(req, http.StatusOK, "board.html", map[string]any{"Title": "告警看板", "Alarms": alarms, "Orders": orders, "HasOrders": s.Orders != nil})
	return nil
}

// refreshEvery re-renders an open board even without a poke, so that chain
// progress reported by webhooks shows; the page itself never polls.
const refreshEvery = 10 * time.Second

// boardEvents streams the board's alarm list as server-sent events: one
// "alarms" event with the list's HTML at once and after every change.
func (s *Server) boardEvents(req *request) error {
	fl, ok := req.w.(http.Flusher)
	if !ok {
		return anxin.Errorf(anxin.EINTERNAL, "streaming is not supported")
	}
	woken, stop := s.Board.watch()
	defer stop()
	h := req.w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	t := time.NewTicker(refreshEvery)
	defer t.Stop()
	var last []byte
	for {
		alarms, err := s.openAlarms(req.ctx, req.api)
		if err != nil {
			s.Logger.Error("board not rendered", "err", err)
		} else {
			var buf bytes.Buffer
			if err := pages()["board.html"].ExecuteTemplate(&buf, "alarms", map[string]any{"Alarms": alarms, "CSRF": req.session.CSRF}); err != nil {
				return err
			}
			if !bytes.Equal(buf.Bytes(), last) {
				last = buf.Bytes()
				if _, err := req.w.Write(sse("alarms", last)); err != nil {
					return nil // the board was closed
				}
				fl.Flush()
			}
		}
		select {
		case <-req.r.Context().Done():
			return nil
		case <-s.Board.closed:
			return nil
		case <-woken:
		case <-t.C:
		}
		// a board left open does not outlive its session (signed out, expired, account removed)
		if _, _, err := s.Accounts.Session(req.r.Context(), req.digest, s.Now()); err != nil {
			return nil
		}
	}
}

// sse frames data as one server-sent event (every line its own data: line).
func sse(name string, data []byte) []byte {
	var b bytes.Buffer
	b.WriteString("event: " + name + "\n")
	for _, line := range bytes.Split(data, []byte("\n")) {
		b.WriteString("data: ")
		b.Write(bytes.TrimRight(line, "\r"))
		b.WriteByte('\n')
	}
	b.WriteByte('\n')
	return b.Bytes()
}

func (s *Server) closeAlarm(req *request) error {
	if _, err := req.api.CloseAlarm(req.ctx, req.r.PathValue("id"), req.r.PostForm.Get("reason")); err != nil {
		if anxin.ErrorCode(err) == anxin.EINVALID {
			return anxin.Errorf(anxin.EINVALID, "请填写关闭原因（不超过500字）")
		}
		return err
	}
	s.Board.Poke()
	http.Redirect(req.w, req.r, Prefix+"board", http.StatusSeeOther)
	return nil
}
