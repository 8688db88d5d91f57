"""``make_grid`` and ``save_image``, present for ``monailabel.transform.post``'s import and never called here."""


def make_grid(*args, **kwargs):
    raise NotImplementedError("torchvision stand-in of the stock-app test: make_grid is not available.")


def save_image(*args, **kwargs):
    raise NotImplementedError("torchvision stand-in of the stock-app test: save_image is not available.")
