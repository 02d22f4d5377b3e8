"""The master, in the order an event travels: intake/ (the daemon) -> store/ -> correlate/ -> notify (its own
package) ; states/ builds the jobs `hamaster apply` sends; timeline/ tells the story; cli/ is the operator's
command line on top of all of them (nothing below imports it)."""
