"""Answer-blind output: what we send about a chosen answer has one length whatever the answer.

A page that echoes the chosen label ("Yes" / "No", "Да" / "Нет") would otherwise differ in size
by answer, and sizes are what an access log or a network observer (even over TLS) sees.
"""

from django.utils.html import conditional_escape, format_html

# Answer ids travel zero-padded to one width in forms, so that form posts for different answers
# have the same body length.
OPTION_VALUE_WIDTH = 10


def option_value(option_id):
    return f"{int(option_id):0{OPTION_VALUE_WIDTH}d}"


def padded_label(option, options):
    """The option's label, escaped, followed by a filler of spaces (hidden from screen readers)
    so that its UTF-8 length equals that of the longest label among `options` in the current
    language."""
    width = max(len(conditional_escape(o.label).encode("utf-8")) for o in options)
    label = conditional_escape(option.label)
    filler = " " * (width - len(label.encode("utf-8")))
    return format_html('{}<span class="filler" aria-hidden="true">{}</span>', label, filler)
