"""The schema's history: NNNN_what_it_does.sql files, applied in order by chaat.migrate."""
