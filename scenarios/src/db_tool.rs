//! `dst db check|info|pages FILE`: inspect an engine file as bbolt's command line does.
