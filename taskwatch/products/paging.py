"""Guards that make every listing end: a listing that does not converge raises
:class:`~taskwatch.products.base.PagingError` with what it saw, instead of looping forever.

The three APIs page three ways (MPS a scroll token, DLC an offset, Live a page number), and each
can be fooled by a broken or changing server. One :class:`PageGuard` per listing checks, as pages
arrive:

- the page count stays within ``max_pages``;
- a scroll token is never handed out twice, and an empty page never names a next page;
- a non-empty page brings at least one task not already seen (offset and page-number paging over
  a list that changes may repeat a few rows, so the check is "something new", not "nothing old");
- the tasks seen stay within what the listing can hold: ``max_tasks``
  (:data:`~taskwatch.products.base.MAX_LISTED`), and, where the API announces its size (DLC
  ``TotalCount``, Live ``TotalPage``), twice what the first page announced plus two pages. A
  listing read while tasks are created may grow a little; one that keeps growing by a page with
  every page read is a pager that never ends, and it is stopped after a few pages instead of
  holding more tasks with every call until the cycle times out.

Not guaranteed: that a listing over a list changing under it sees every task. Offset and
page-number paging can skip a row when one ahead of it leaves the list; the adapters say what
they do about it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from taskwatch.products.base import MAX_LISTED, PagingError


@dataclass(slots=True)
class PageGuard:
    """The checks for one listing (one status, one filter), page after page."""

    listing: str
    """Named in errors, e.g. ``mps DescribeTasks Status=WAITING``."""
    max_pages: int
    max_tasks: int = MAX_LISTED
    """The most distinct tasks the listing may bring."""
    page_size: int = 0
    """Rows per page asked for: the slack allowed over an announced size."""
    pages: int = 0
    tasks: int = 0
    """Distinct tasks seen so far (as counted by :meth:`progress`)."""
    announced: int | None = None
    """How many tasks the first page said the listing holds (``None``: not said)."""
    _tokens: set[str] = field(default_factory=set)

    def turn(self) -> None:
        """Call before asking for each page."""
        if self.pages >= self.max_pages:
            raise PagingError(
                f"{self.listing}: still not at the end after {self.max_pages} pages; "
                "the listing does not converge (raise max_pages if the account really holds "
                "that many tasks)"
            )
        self.pages += 1

    def announce(self, tasks: int) -> None:
        """The API's own count of the listing, read on every page; the first non-zero one sets
        the ceiling (a later, larger one is what a never-ending pager says)."""
        if self.announced is None and tasks > 0:
            self.announced = tasks

    @property
    def ceiling(self) -> int:
        """The most tasks this listing may still bring."""
        if self.announced is None:
            return self.max_tasks
        return min(self.max_tasks, 2 * (self.announced + self.page_size))

    def scroll(self, token: str, rows: int) -> bool:
        """Whether to ask for the page ``token`` names; ``""`` ends the listing."""
        if not token:
            return False
        if rows == 0:
            raise PagingError(
                f"{self.listing}: page {self.pages} was empty but named a next page "
                f"(ScrollToken {token!r})"
            )
        if token in self._tokens:
            raise PagingError(
                f"{self.listing}: page {self.pages} repeated ScrollToken {token!r}; "
                "the listing would loop"
            )
        self._tokens.add(token)
        return True

    def progress(self, new: int, rows: int, *, at: str) -> None:
        """Check that a page of ``rows`` rows brought ``new`` tasks not seen before, and that the
        listing still holds no more than it can."""
        if rows and not new:
            raise PagingError(
                f"{self.listing}: page {self.pages} ({at}) brought {rows} tasks, all already "
                "seen; the listing makes no progress"
            )
        self.tasks += new
        ceiling = self.ceiling
        if self.tasks > ceiling:
            said = (
                f"the API announced {self.announced} at the start"
                if self.announced is not None and ceiling < self.max_tasks
                else "more than one listing may hold"
            )
            raise PagingError(
                f"{self.listing}: page {self.pages} ({at}) brings it to more than {ceiling} "
                f"tasks and it still goes on ({said}); the listing does not end"
            )
