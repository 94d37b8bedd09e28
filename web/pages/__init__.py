"""Server-rendered pages for people: views, JSON Schema forms as HTML, the pinned diagram as SVG."""
