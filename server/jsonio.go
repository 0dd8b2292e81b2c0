package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// apiError is an error response: OpenAI's error object, or Ollama's
// {"error": message} on /api/ routes.
type apiError struct {
	status int
	typ    string
	param  string
	code   string
	msg    string
}

func (e *apiError) Error() string { return e.msg }

func badRequest(param, format string, args ...any) *apiError {
	return &apiError{status: http.StatusBadRequest, typ: "invalid_request_error", param: param, msg: fmt.Sprintf(format, args...)}
}

// openAIError is the body of an OpenAI error response.
type openAIError struct {
	Error openAIErrorBody `json:"error"`
}

type openAIErrorBody struct {
	Message string  `json:"message"`
	Type    string  `json:"type"`
	Param   *string `json:"param"`
	Code    *string `json:"code"`
}

func (e *apiError) body() openAIError {
	b := openAIError{Error: openAIErrorBody{Message: e.msg, Type: e.typ}}
	if e.param != "" {
		b.Error.Param = &e.param
	}
	if e.code != "" {
		b.Error.Code = &e.code
	}
	return b
}

// writeError writes e and returns its status.
func writeError(w http.ResponseWriter, ollama bool, e *apiError) int {
	if e.status == http.StatusTooManyRequests {
		w.Header().Set("Retry-After", "1")
	}
	status := e.status
	if status == 499 { // the client is gone; nobody reads this
		status = http.StatusRequestTimeout
	}
	if ollama {
		writeJSON(w, status, map[string]string{"error": e.msg})
	} else {
		writeJSON(w, status, e.body())
	}
	return e.status
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// decodeJSON reads one JSON object from r's body into v. Unknown fields
// are accepted (clients send fields of newer API versions); wrong types,
// trailing data and oversized bodies are errors naming the field.
func decodeJSON(r *http.Request, v any) *apiError {
	dec := json.NewDecoder(r.Body)
	err := dec.Decode(v)
	if err == nil {
		if _, terr := dec.Token(); terr != io.EOF {
			return badRequest("", "the body holds more than one JSON value")
		}
		return nil
	}
	var mbe *http.MaxBytesError
	var ute *json.UnmarshalTypeError
	var se *json.SyntaxError
	var fe *fieldError
	switch {
	case errors.As(err, &mbe):
		return &apiError{status: http.StatusRequestEntityTooLarge, typ: "invalid_request_error",
			msg: fmt.Sprintf("the request body exceeds %d bytes", mbe.Limit)}
	case errors.As(err, &fe):
		return badRequest(fe.field, "field %s: %s", fe.field, fe.msg)
	case errors.As(err, &ute):
		field := strings.ReplaceAll(ute.Field, "samplingParams.", "")
		if field == "" {
			return badRequest("", "the body must be a JSON object, not %s", ute.Value)
		}
		return badRequest(field, "field %s: got a JSON %s, want %s", field, ute.Value, typeName(ute.Type.Kind().String()))
	case errors.As(err, &se):
		return badRequest("", "invalid JSON at byte %d: %v", se.Offset, err)
	case errors.Is(err, io.EOF):
		return badRequest("", "empty request body: send a JSON object")
	}
	return badRequest("", "invalid JSON: %v", err)
}

func typeName(kind string) string {
	switch kind {
	case "float32", "float64":
		return "a number"
	case "int", "int64", "uint64":
		return "an integer"
	case "string":
		return "a string"
	case "bool":
		return "true or false"
	case "slice":
		return "an array"
	case "struct", "map":
		return "an object"
	}
	return kind
}

// fieldError is a custom unmarshaler's complaint about one field.
type fieldError struct{ field, msg string }

func (e *fieldError) Error() string { return e.field + ": " + e.msg }

// stopList is OpenAI's stop: a string or an array of strings.
type stopList []string

func (s *stopList) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*s = nil
		return nil
	}
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		*s = stopList{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return &fieldError{"stop", "want a string or an array of strings"}
	}
	*s = many
	return nil
}
