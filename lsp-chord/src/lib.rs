//! lsp-chord
