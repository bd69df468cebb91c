"""Every query, one `<table>/<operation>.sql` file each; chaat.db loads them."""
