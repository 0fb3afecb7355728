"""Plain state objects the widgets subscribe to: a run, the runs table, the chat transcript. No widgets here."""
