package harness

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
)

// Table collects rows of cells and writes them with aligned columns:
// the first column left-aligned, the others right-aligned, as numbers
// read best.
type Table struct {
	rows [][]string
}

// Row adds a row; each cell is formatted with %v, float64s with two
// decimals.
func (t *Table) Row(cells ...any) {
	row := make([]string, len(cells))
	for i, c := range cells {
		if f, ok := c.(float64); ok {
			row[i] = fmt.Sprintf("%.2f", f)
			continue
		}
		row[i] = fmt.Sprint(c)
	}
	t.rows = append(t.rows, row)
}

// WriteTo writes the table, columns two spaces apart.
func (t *Table) WriteTo(w io.Writer) (int64, error) {
	var widths []int
	for _, row := range t.rows {
		for i, cell := range row {
			if i == len(widths) {
				widths = append(widths, 0)
			}
			widths[i] = max(widths[i], len(cell))
		}
	}
	var b strings.Builder
	for _, row := range t.rows {
		for i, cell := range row {
			pad := strings.Repeat(" ", widths[i]-len(cell))
			if i == 0 {
				b.WriteString(cell + pad)
				continue
			}
			b.WriteString("  " + pad + cell)
		}
		b.WriteString("\n")
	}
	n, err := io.WriteString(w, b.String())
	return int64(n), err
}

// WriteJSON writes v, indented, to the file at path, or to stdout when
// path is "-".
func WriteJSON(path string, stdout io.Writer, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	b = append(b, '\n')
	if path == "-" {
		_, err := stdout.Write(b)
		return err
	}
	return os.WriteFile(path, b, 0o644)
}

// Output writes a program's figures: v as JSON to the file at path unless
// path is empty, and the table to stdout unless path is "-", which prints
// the JSON there instead.
func Output(path string, stdout io.Writer, v any, table func(io.Writer)) error {
	if path != "" {
		if err := WriteJSON(path, stdout, v); err != nil {
			return err
		}
	}
	if path != "-" {
		table(stdout)
	}
	return nil
}
