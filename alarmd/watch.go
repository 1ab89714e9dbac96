package alarmd

import (
	"context"
	"path/filepath"
	"time"

	"github.com/fsnotify/fsnotify"
)

// fileWatch notices changes of rules_file and households_file.
type fileWatch struct {
	w     *fsnotify.Watcher
	files map[string]bool
}

// openWatch starts watching (in Open, so no change after Open is missed);
// editors replace files, so the directories are watched.
func (m *Main) openWatch() *fileWatch {
	files := map[string]bool{}
	for _, f := range []string{m.Config.RulesFile, m.Config.HouseholdsFile} {
		if f != "" {
			if abs, err := filepath.Abs(f); err == nil {
				files[abs] = true
			}
		}
	}
	if len(files) == 0 {
		return nil
	}
	w, err := fsnotify.NewWatcher()
	if err != nil {
		m.Logger.Warn("file watching unavailable; reload with SIGHUP", "err", err)
		return nil
	}
	dirs := map[string]bool{}
	for f := range files {
		dirs[filepath.Dir(f)] = true
	}
	for d := range dirs {
		if err := w.Add(d); err != nil {
			m.Logger.Warn("cannot watch; reload with SIGHUP", "dir", d, "err", err)
		}
	}
	return &fileWatch{w: w, files: files}
}

// watchFiles reloads when a watched file changes; a burst of events within
// 300 ms is one reload.
func (m *Main) watchFiles(ctx context.Context, fw *fileWatch) {
	if fw == nil {
		return
	}
	w, files := fw.w, fw.files
	defer w.Close()
	var debounce <-chan time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-w.Events:
			if !ok {
				return
			}
			if files[filepath.Clean(ev.Name)] && ev.Op&(fsnotify.Write|fsnotify.Create|fsnotify.Rename) != 0 {
				debounce = time.After(300 * time.Millisecond)
			}
		case err, ok := <-w.Errors:
			if !ok {
				return
			}
			m.Logger.Warn("file watch", "err", err)
		case <-debounce:
			debounce = nil
			m.Logger.Info("rules or households file changed: reloading")
			_ = m.Reload(ctx) // logs why a bad file was rejected
		}
	}
}
