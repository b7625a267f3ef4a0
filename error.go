package keyward

import (
	"errors"
	"fmt"
)

// Error codes. They are stable: clients and the HTTP layer map on them.
const (
	ECONFLICT     = "conflict"
	EFORBIDDEN    = "forbidden"
	EINTERNAL     = "internal"
	EINVALID      = "invalid"
	ENOTFOUND     = "not_found"
	ETOOLARGE     = "too_large"
	EUNAUTHORIZED = "unauthorized"
	EUNSUPPORTED  = "unsupported_media_type"
	EUNAVAILABLE  = "unavailable"
	EMETHOD       = "method_not_allowed"
)

// internalMessage is all a client ever sees of an unexpected error.
const internalMessage = "Internal error."

// Error is the domain error. Anything that is not an *Error is treated as
// EINTERNAL and its text is never shown to a client.
type Error struct {
	// Code is one of the E* constants.
	Code string
	// Message is a human-readable text, safe to show to the caller.
	Message string
	// Fields names the offending input fields of a validation error.
	Fields []FieldError
}

// FieldError names one invalid input field.
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// Error implements the error interface. It is never used for the response
// body; ErrorCode and ErrorMessage are.
func (e *Error) Error() string {
	return fmt.Sprintf("keyward error: code=%s message=%s", e.Code, e.Message)
}

// Errorf returns an *Error with the given code and a formatted message.
func Errorf(code string, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Invalid returns an EINVALID error naming the offending fields. The message
// summarises the first one.
func Invalid(fields ...FieldError) *Error {
	msg := "Invalid input."
	if len(fields) > 0 {
		msg = fields[0].Field + ": " + fields[0].Message
		if len(fields) > 1 {
			msg += fmt.Sprintf(" (and %d more)", len(fields)-1)
		}
	}
	return &Error{Code: EINVALID, Message: msg, Fields: fields}
}

// ErrorCode returns the code of err's underlying *Error, "" for nil, and
// EINTERNAL for any other error.
func ErrorCode(err error) string {
	var e *Error
	if err == nil {
		return ""
	}
	if errors.As(err, &e) {
		return e.Code
	}
	return EINTERNAL
}

// ErrorMessage returns the message of err's underlying *Error, and a generic
// text for any other error so that internals never leak.
func ErrorMessage(err error) string {
	var e *Error
	if err == nil {
		return ""
	}
	if errors.As(err, &e) {
		return e.Message
	}
	return internalMessage
}

// ErrorFields returns the field errors of err's underlying *Error.
func ErrorFields(err error) []FieldError {
	var e *Error
	if errors.As(err, &e) {
		return e.Fields
	}
	return nil
}
