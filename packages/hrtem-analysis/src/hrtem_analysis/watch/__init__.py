"""Live analysis of a folder a camera writes into (``hrtem analyze watch``): files handed out
once complete (:mod:`~hrtem_analysis.watch.arrivals`), each frame analysed once and its row
appended to a resumable table (:mod:`~hrtem_analysis.watch.run`), and a live page in the browser
(:mod:`~hrtem_analysis.watch.live`)."""
