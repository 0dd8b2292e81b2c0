package server

import (
	_ "embed"
	"net/http"
)

// chatPage is the embedded chat page served at /.
//
//go:embed page/index.html
var chatPage []byte

func (s *Server) page(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data: blob:; style-src 'unsafe-inline'; script-src 'unsafe-inline'")
	_, _ = w.Write(chatPage)
}
