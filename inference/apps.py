from django.apps import AppConfig


class InferenceConfig(AppConfig):
    name = "inference"
    verbose_name = "Models and predictions"

    def ready(self) -> None:
        # Once an upload commits, queue its prediction, then its SAM embedding (in that order). annotations, below,
        # does not know what runs after an upload; this app registers it (docs/architecture.md, "Layers").
        from annotations.services import image_upload_hook_register
        from inference.sam_services import sam_embedding_enqueue_for_upload
        from inference.services import prediction_request_for_upload

        image_upload_hook_register(prediction_request_for_upload)
        image_upload_hook_register(sam_embedding_enqueue_for_upload)
