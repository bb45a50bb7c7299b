"""Uploads over FILE_UPLOAD_MAX_MEMORY_SIZE go to a temporary file whose name carries no part
of the client's file name.

Django names that file `tmpXXXX.upload<extension of the client's name>`; the extension is cut
to 255 characters, not bytes, so a name like `x.<300 characters>` or a long extension in a
multi-byte script makes the temporary name longer than the file system allows, and the upload
failed with an unhandled OSError (ENAMETOOLONG) before any view ran: a 500 on every route that
takes a file. The client's name is kept on the upload object, where the services check it
(annotator.images.file_name_of).

Django also cuts an upload's name to 255 characters, keeping the extension, without a word:
both handlers here keep the name as sent in `client_name`, so a name longer than a file
system allows is refused with a 400 like the same name inside a zip, instead of being stored
cut (and then never matching the full name in an annotation import).
"""

from __future__ import annotations

import contextlib
import tempfile
from typing import Any

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.core.files.uploadhandler import MemoryFileUploadHandler, TemporaryFileUploadHandler


class BoundedTemporaryUploadedFile(UploadedFile):
    def __init__(
        self, name: str, content_type: str, size: int, charset: str | None, extra: Any = None
    ) -> None:
        # Closed by close() below, when the request ends: not a with-block's lifetime.
        file = tempfile.NamedTemporaryFile(suffix=".upload", dir=settings.FILE_UPLOAD_TEMP_DIR)  # noqa: SIM115
        super().__init__(file, name, content_type, size, charset, extra)

    def temporary_file_path(self) -> str:
        return str(self.file.name)

    def close(self) -> None:
        # Moved or deleted before the temporary file could unlink itself.
        with contextlib.suppress(FileNotFoundError):
            self.file.close()


class BoundedTemporaryFileUploadHandler(TemporaryFileUploadHandler):
    def new_file(self, *args: Any, **kwargs: Any) -> None:
        super(TemporaryFileUploadHandler, self).new_file(*args, **kwargs)
        self.file = BoundedTemporaryUploadedFile(
            self.file_name or "upload", self.content_type or "", 0, self.charset,
            self.content_type_extra,
        )  # fmt: skip
        self.file.client_name = self.file_name


class NamedMemoryFileUploadHandler(MemoryFileUploadHandler):
    def file_complete(self, file_size: int) -> Any:
        file = super().file_complete(file_size)
        if file is not None:
            file.client_name = self.file_name
        return file
